

tPlaceholder*
dtype0

iPlaceholder*
dtype0

xImageSummaryti"ª