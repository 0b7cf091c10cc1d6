; PUSH/POP in 64-bit mode: register, sign-extended immediates, 16-bit
; operand size, memory operands, PUSHFQ/POPFQ. SDM Vol. 2B, PUSH, POP.
; mode: long
; expect: rax=0x1122334455667788 rbx=0x1122334455667788 rcx=0xbeef
; expect: rdx=0xfffffffffffffffe rsi=0x12345678 rdi=0x80000 rsp=0x80000
; expect: rflags=0x8d7
; expect-mem: 0x7ffe6 = ef be fe ff ff ff ff ff ff ff 78 56 34 12 00 00 00 00
; expect-mem: 0x7fff8 = d7 08 00 00 00 00 00 00
; expect-mem: 0x20008 = 55 00 00 00 00 00 00 00
; expect-exit: hlt
bits 64
org 0x10000
  mov rax, 0x1122334455667788
  push rax
  push 0x12345678
  push -2
  push word 0xbeef
  pop cx
  pop rdx
  pop rsi
  pop rbx
  mov qword [0x20000], 0x55
  push qword [0x20000]
  pop qword [0x20008]
  push 0x8d7
  popfq                        ; OF SF ZF AF PF CF
  mov rdi, rsp
  hlt
