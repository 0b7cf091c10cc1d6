; Ports without a device: IN reads all ones, OUT is ignored (both traced
; with --verbose). Halts (status 0) when the read gave 0xff, else
; debug-exit 1 (status 3).
bits 64
org 0x10000
    xor eax, eax
    in al, 0x80
    out 0x81, al
    cmp al, 0xff
    jne .bad
    hlt
.bad:
    mov al, 1
    out 0xf4, al
    hlt
