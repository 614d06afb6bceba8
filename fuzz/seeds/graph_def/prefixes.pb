

aPlaceholder*
dtype0

a_1Identitya*
T0

preIdentitya*
T0
!
scope/xIdentitya_1*
T0"ª