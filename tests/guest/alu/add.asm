; ADD at 8/16/32/64 bits and with a memory destination; the flags after
; each (pushfq) in r8..r12. SDM Vol. 2A, ADD; Vol. 1, 3.4.3 (EFLAGS).
; mode: long
; expect: rax=0 rbx=0x8000 rcx=0xfffffffe rdx=0
; expect: r8=0x57 r9=0x896 r10=0x93 r11=0x847 r12=0x16
; expect-mem: 0x20000 = 0a 01 00 00
; expect-exit: hlt
bits 64
org 0x10000
  mov al, 0xff
  add al, 1                    ; 0: CF ZF PF AF
  pushfq
  pop r8
  mov bx, 0x7fff
  add bx, 1                    ; 0x8000: OF SF AF PF
  pushfq
  pop r9
  mov ecx, 0xffffffff
  add ecx, 0xffffffff          ; 0xfffffffe: CF SF AF
  pushfq
  pop r10
  mov rdx, 0x8000000000000000
  add rdx, rdx                 ; 0: CF ZF PF OF
  pushfq
  pop r11
  mov dword [0x20000], 0xff
  add dword [0x20000], 11      ; 0x10a: AF
  pushfq
  pop r12
  hlt
