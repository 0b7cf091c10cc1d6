; 16-bit ALU in real mode: ADD, SUB, NEG, XOR, SHL with each 16-bit flags
; image (PUSHF) stored at 0x500 + 2n. SDM Vol. 2A, ADD; Vol. 2B, NEG, SAL,
; SUB, XOR.
; mode: real
; expect: rax=0 rbx=0x7fff rcx=0x80 rdx=0 rsi=0x8000
; expect-mem: 0x500 = 57 00 16 08 83 08 46 00 86 08
; expect-exit: hlt
bits 16
org 0x7c00
  mov ax, 0xffff
  add ax, 1                    ; 0: CF ZF AF PF
  pushf
  pop word [0x500]
  mov bx, 0x8000
  sub bx, 1                    ; 0x7fff: OF AF PF
  pushf
  pop word [0x502]
  mov cl, 0x80
  neg cl                       ; 0x80: CF OF SF
  pushf
  pop word [0x504]
  mov dx, 0x1234
  xor dx, 0x1234               ; 0: ZF PF
  pushf
  pop word [0x506]
  mov si, 0x4000
  shl si, 1                    ; 0x8000: OF SF PF
  pushf
  pop word [0x508]
  hlt
