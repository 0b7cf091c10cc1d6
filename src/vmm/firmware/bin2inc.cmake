# Turns a binary file into a comma-separated list of byte literals for an
# array initializer: cmake -DIN=file.bin -DOUT=file.inc -P bin2inc.cmake
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "${bytes}\n")
