

aPlaceholder*
dtype0

aPlaceholder*
dtype0"ª