

tPlaceholder*
dtype0

xImageSummaryt"ª