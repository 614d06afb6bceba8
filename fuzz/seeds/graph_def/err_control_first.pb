

aPlaceholder*
dtype0

bPlaceholder*
dtype0

cAddV2^ab*
T0"ª