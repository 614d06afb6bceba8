

aPlaceholder*
dtype0;
9

Neg
x
y
opNegx*
T0"
yop:y:0"ª