

aPlaceholder*
dtype0L
<

MyFunc
x
y
opNegx*
T0"
yop:y:0
MyFuncG1"ª