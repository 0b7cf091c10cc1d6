; Real-mode guest for `softkvm run --flat hello16.bin --mode real`:
; entered at 0000:7c00, prints on COM1 and halts (exit status 0).
bits 16
org 0x7c00

COM1 equ 0x3f8

start:
    mov si, message
    mov dx, COM1
.loop:
    mov al, [si]
    test al, al
    jz .done
    out dx, al
    inc si
    jmp .loop
.done:
    hlt
    jmp .done

message: db "hello from real mode", 10, 0
