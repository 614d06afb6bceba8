

aPlaceholder*
dtype0

xNega*
T0"ª