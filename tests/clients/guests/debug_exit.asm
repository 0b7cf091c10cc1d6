; Writes 0x2a to isa-debug-exit: `softkvm run` must exit (0x2a << 1) | 1 = 85.
bits 64
org 0x10000
    mov al, 0x2a
    out 0xf4, al
    hlt
