

aPlaceholder*
dtype0

xBatchFFTa"