

aPlaceholder*
dtype0

xCasta"ª