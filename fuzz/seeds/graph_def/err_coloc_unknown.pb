
4
xPlaceholder*
_class
	loc:@zz*
dtype0"ª