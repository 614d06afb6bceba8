

aPlaceholder*
dtype0
!
bIdentity	missing:1*
T0"ª