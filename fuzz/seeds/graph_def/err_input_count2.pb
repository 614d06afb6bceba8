

aPlaceholder*
dtype0

xAddV2a*
T0"ª