
!
a.b>cPlaceholder*
dtype0
!
scopePlaceholder*
dtype0
3
sumAddV2a.b>cscope^a.b>c^scope*
T0
1
xIdentitysum*
T0*
_output_shapes
8
yIdentitysum"/job:a/task:0/cpu:0*
T02
orig"ª