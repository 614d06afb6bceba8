

aPlaceholder*
dtype0

xConv2Daa"ª