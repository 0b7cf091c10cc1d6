; OR/AND/XOR/SBB/ADD/CMP at 8, 16 and 32 bits in 32-bit protected mode,
; register and memory destinations; each flags image (PUSHFD) stored at
; 0x20000 + 4n. SDM Vol. 2A, ADD, AND, CMP; Vol. 2B, OR, SBB, XOR.
; mode: prot32
; expect: rax=0x1234d678 rbx=0 rcx=0xffffffff rdx=0x7ffe
; expect-mem: 0x20000 = 86 00 00 00 46 00 00 00 86 00 00 00 12 08 00 00
; expect-mem: 0x20010 = 00 00 00 80 96 08 00 00 80 00 00 00 12 08 00 00
; expect-exit: hlt
bits 32
org 0x10000
  mov eax, 0x12345678
  or ax, 0x8000                ; 0xd678: SF PF
  pushfd
  pop dword [0x20000]
  mov bl, 0x0f
  and bl, 0xf0                 ; 0: ZF PF
  pushfd
  pop dword [0x20004]
  mov ecx, 0xffff0000
  xor ecx, 0x0000ffff          ; -1: SF PF
  pushfd
  pop dword [0x20008]
  stc
  mov dx, 0x8000
  sbb dx, 1                    ; 0x7ffe: OF AF
  pushfd
  pop dword [0x2000c]
  mov dword [0x20010], 0x7fffffff
  add dword [0x20010], 1       ; 0x80000000: OF SF AF PF
  pushfd
  pop dword [0x20014]
  mov byte [0x20018], 0x80
  cmp byte [0x20018], 0x7f     ; 0x01: OF AF
  pushfd
  pop dword [0x2001c]
  hlt
