

aPlaceholder*
dtype0

bPlaceholder*
dtype0"ª