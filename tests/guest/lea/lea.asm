; LEA: base + index*scale + disp, RIP-relative, 32-bit address size
; (wraps at 4 GiB), 16-bit destination, no flags.
; SDM Vol. 2A, LEA; Vol. 2A, 2.2.1.6 (RIP-relative addressing).
; mode: long
; expect: rax=0x1110 rcx=0x101f rdx=0 rdi=0xff0 r8=0x2000 r9=0xffffffffffff1020
; expect-exit: hlt
bits 64
org 0x10000
  mov rbx, 0x1000
  mov rsi, 0x20
  lea rax, [rbx+rsi*8+0x10]
  lea ecx, [rbx+rsi-1]
  lea rdx, [rel here]
  mov r10, here
  sub rdx, r10                 ; RIP-relative lands on `here`
  lea edi, [ebx-0x10]          ; 67h: 32-bit address arithmetic
  lea r8, [rbx*2]
  mov r9, -1
  lea r9w, [rbx+rsi]           ; 16-bit destination merges
here:
  hlt
