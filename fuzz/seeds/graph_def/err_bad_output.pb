

cPlaceholder*
dtype0

bIdentityc:3*
T0"ª