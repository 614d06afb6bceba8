

aPlaceholder*
dtype0

fPlaceholder*
dtype0
C
xConv2Daf*
T0*
paddingWEIRD*
strides
"ª