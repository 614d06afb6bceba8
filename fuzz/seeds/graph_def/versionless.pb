

aPlaceholder*
dtype0