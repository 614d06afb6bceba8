

xPlaceholder*
dtype0e"ª