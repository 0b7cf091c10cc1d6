; HLT exits to the client with RIP after the instruction.
; SDM Vol. 2A, HLT; api.rst KVM_EXIT_HLT.
; mode: prot32
; expect: rip=0x10006 rax=0x1234
; expect-exit: hlt
bits 32
org 0x10000
  mov eax, 0x1234
  hlt
