

aPlaceholder*
dtype0
"
mMergean*
N*
T0
 
nNextIterationm:2*
T0"ª