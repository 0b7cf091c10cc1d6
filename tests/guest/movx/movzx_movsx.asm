; MOVZX, MOVSX and MOVSXD at every width. SDM Vol. 2B, MOVZX, MOVSX/MOVSXD.
; mode: long
; expect: rax=0x80 rcx=0xffffffffffffff80 rdx=0xffff8001 rsi=0x8001
; expect: rdi=0xffffffff80000000 r8=0x111111111111ff80 r9=0x80
; expect-exit: hlt
bits 64
org 0x10000
  mov rax, -1
  mov bl, 0x80
  movzx eax, bl
  movsx rcx, bl
  mov dx, 0x8001
  movzx rsi, dx
  movsx edx, dx
  mov dword [0x20000], 0x80000000
  movsxd rdi, dword [0x20000]
  mov r8, 0x1111111111111111
  movsx r8w, bl
  movzx r9, byte [0x20003]
  hlt
