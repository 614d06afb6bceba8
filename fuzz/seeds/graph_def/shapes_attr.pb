
9
aPlaceholder*
_output_shapes
:*
dtype0
5
bIdentitya*
T0*
_output_shapes
:"ª