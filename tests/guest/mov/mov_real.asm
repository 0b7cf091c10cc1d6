; MOV in real mode: segment registers, segment-relative addressing with
; DS/ES overrides, 16-bit and 32-bit (operand-size prefix) moves.
; SDM Vol. 2B, MOV; Vol. 3A, 20.1 (real-address mode addressing).
; mode: real
; expect: rax=0x2000 rbx=0x1234 rcx=0xcafe5678 rdx=0x1234 rsi=0xabcd
; expect: ds=0x2000 es=0x3000
; expect-mem: 0x20010 = 34 12 78 56 fe ca
; expect-mem: 0x30020 = cd ab
; expect-exit: hlt
bits 16
org 0x7c00
  mov ax, 0x2000
  mov ds, ax
  mov bx, 0x3000
  mov es, bx
  mov bx, 0x1234
  mov [0x10], bx               ; ds:0x10 = 0x20010
  mov ecx, 0xcafe5678
  mov [0x12], ecx
  mov word [es:0x20], 0xabcd   ; 0x30020
  mov si, [es:0x20]
  mov dx, [0x10]
  hlt
