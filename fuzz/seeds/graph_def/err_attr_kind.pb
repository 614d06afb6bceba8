

xPlaceholder*
dtype"ª