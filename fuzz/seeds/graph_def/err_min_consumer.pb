

aPlaceholder*
dtype0"ªŸ