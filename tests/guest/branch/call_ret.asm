; CALL (relative, register, memory), RET, RET imm16, JMP (short, register).
; SDM Vol. 2A, CALL, JMP; Vol. 2B, RET.
; mode: long
; expect: rax=0x1111 rsp=0x80000
; expect-exit: hlt
bits 64
org 0x10000
  xor eax, eax
  call f1
  lea rbx, [rel f2]
  call rbx
  call [rel f3_address]
  push 0x77
  call f4                      ; returns with RET 8, dropping the 0x77
  jmp short .skip
  mov eax, 0xdead
.skip:
  lea rdx, [rel done]
  jmp rdx
  mov eax, 0xbad
f1:
  add eax, 1
  ret
f2:
  add eax, 0x10
  ret
f3:
  add eax, 0x100
  ret
f4:
  add eax, 0x1000
  ret 8
done:
  hlt
align 8
f3_address: dq f3
