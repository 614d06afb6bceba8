

aPlaceholder*
dtype0

bNoOp^missing"ª