; PUSH/POP/PUSHA/POPA in real mode with SS:SP (0:0x7000); PUSHA from SP
; 0x6ffe leaves CX (7) at 0x6ffa and AX at 0x6ffc.
; SDM Vol. 2B, PUSH, POP, PUSHA, POPA.
; mode: real
; expect: rax=0x1234 rbx=0x5678 rcx=7 rdx=0x1234 rsp=0x7000 es=0
; expect-mem: 0x6ffa = 07 00 34 12 34 12
; expect-exit: hlt
bits 16
org 0x7c00
  mov ax, 0x1234
  push ax
  push 0x5678
  push ds
  pop es
  pop bx
  mov cx, 7
  pusha
  mov cx, 0
  popa
  pop dx
  hlt
