

zAddV2yx*
T0

yIdentityx*
T0

xPlaceholder*
dtype0

wNoOp^z^x^y^x

vPlaceholder*
dtype0"ª