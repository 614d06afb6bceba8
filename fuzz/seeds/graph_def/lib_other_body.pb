

aPlaceholder*
dtype0>
<

MyFunc
x
y
opAbsx*
T0"
yop:y:0"ª