

aPlaceholder*
dtype0

xNoOpa"ª