
%
aPlaceholder"/gpu:1*
dtype0
/
bIdentitya*
T0*
_class

loc:@a
>
cIdentityb"/cpu:0*
T0*
_class
loc:@bother
U
dIdentitya"$/job:w/replica:1/task:2/device:cpu:3*
T0*
_class

loc:@d"ª