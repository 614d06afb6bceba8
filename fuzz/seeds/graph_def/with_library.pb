

aPlaceholder*
dtype0

callMyFunca

call2MyFunccall"/cpu:0@
>

MyFunc
x
y
negNegx*
T0"
yneg:y:0"d