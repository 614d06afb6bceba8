

aPlaceholder*
dtype0
+
x	Transposeaa*
Tpermx*
T0"ª