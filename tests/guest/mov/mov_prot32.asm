; MOV in flat 32-bit protected mode: 32-bit default operand size, 16-bit
; via 66h, byte moves, [base+index*scale+disp] stores.
; SDM Vol. 2B, MOV; Vol. 2A, 2.1.5 (ModR/M and SIB addressing).
; mode: prot32
; expect: rax=0x89abcdef rbx=0x20000 rcx=3 rdx=0xcdef rsi=0xef rdi=0x89ab0042
; expect-mem: 0x2000c = ef cd ab 89
; expect-mem: 0x20010 = 42 00
; expect-exit: hlt
bits 32
org 0x10000
  mov eax, 0x89abcdef
  mov ebx, 0x20000
  mov ecx, 3
  mov [ebx+ecx*4], eax         ; 0x2000c
  mov dx, [ebx+ecx*4]
  mov byte [ebx+0x10], 0x42
  movzx esi, byte [ebx+12]
  mov edi, eax
  mov di, [ebx+0x10]
  hlt
