; The tiny real-mode firmware of `softkvm run -k --entry 16`: what the Linux
; setup code (arch/x86/boot) calls before it switches to protected mode.
; Loaded at F000:0000 (physical 0xF0000); the VMM points every IVT vector at
; `iret_stub` and INT 15h at `int15`, and fills `e820_count`/`e820_table`.
;   INT 15h AX=E820h (ACPI 6.4, 15.1 "INT 15H, E820H - Query System Address Map"):
;     EBX = continuation (entry index), ECX >= 20, EDX = 'SMAP', ES:DI = buffer.
;     Returns CF clear, EAX = 'SMAP', ECX = 20, EBX = next index or 0 at the end.
;   Every other function and interrupt: CF set / plain IRET (unsupported).
bits 16
org 0

SMAP equ 0x534d4150

iret_stub:                    ; offset 0x00
    iret

times 0x10 - ($ - $$) db 0xcc
int15:                        ; offset 0x10
    cmp eax, 0xe820
    jne .fail
    cmp edx, SMAP
    jne .fail
    cmp ebx, [cs:e820_count]
    jae .fail
    push ds
    push si
    push di
    push cx
    push cs
    pop ds
    mov si, bx
    imul si, si, 20
    add si, e820_table
    mov cx, 20
    cld
    rep movsb                 ; DS:SI -> ES:DI
    pop cx
    pop di
    pop si
    pop ds
    inc ebx
    cmp ebx, [cs:e820_count]
    jb .more
    xor ebx, ebx
.more:
    mov eax, SMAP
    mov ecx, 20
    clc
    retf 2                    ; keep the new CF: drop the caller's FLAGS image
.fail:
    mov ah, 0x86              ; function not supported
    stc
    retf 2

times 0x100 - ($ - $$) db 0xcc
e820_count:                   ; offset 0x100, written by the VMM
    dd 0
e820_table:                   ; offset 0x104: base (8), length (8), type (4)
