

aPlaceholder*
dtype0"ÿÿÿÿÿÿÿÿÿ