

aPlaceholder*
dtype0

bIdentitya*
T0

cNega*
T0"ª