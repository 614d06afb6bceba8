
%
aPlaceholder"/cpu:0*
dtype0
'
bPlaceholder"/foo:bar*
dtype0
%
cPlaceholder"/gpu:1*
dtype0"ª