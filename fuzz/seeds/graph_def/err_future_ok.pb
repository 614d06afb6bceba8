

aPlaceholder*
dtype0"À