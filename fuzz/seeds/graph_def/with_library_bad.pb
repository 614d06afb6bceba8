

call	OtherFunc

badNegcall*
T0R
P

	OtherFunc
y)
cConst*
dtype0*
valueB:"
y
c:output:0"ª