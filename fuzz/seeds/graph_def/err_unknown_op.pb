

aPlaceholder*
dtype0

xFooBarOpa"ª