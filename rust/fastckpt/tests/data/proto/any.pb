
FD
/type.googleapis.com/tensorflow.TensorShapeProtoÿÿÿÿÿÿÿÿÿ"6
c1*/
-
&type.googleapis.com/tensorflow.NodeDef
n